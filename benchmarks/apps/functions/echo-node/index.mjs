// The two-way route's echo as a Lambda function in a Node.js worker process
// (benchmarks/configs/functions-node.yaml): the same answer as handlers.echo_sync.
export const handler = async (event) => ({ statusCode: 200, body: event.body });
