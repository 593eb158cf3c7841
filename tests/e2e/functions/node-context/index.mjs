// Answers with the invocation's client context (tests/e2e/test_invoke.py): what a
// synchronous Invoke's ClientContext becomes in a Node.js function.
export const handler = async (event, context) => ({
  clientContext: context.clientContext ?? null,
  echo: event,
});
