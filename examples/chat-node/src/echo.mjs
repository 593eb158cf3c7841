// echo: a two-way route; the body of the return value goes back to the sender.
export const handler = async (event) => ({ statusCode: 200, body: event.body });
