// A Node.js function as an ES module (tests/e2e/test_workers_node.py): the counterpart of
// ../alpha/app.py. Every invocation is appended to the file named by RECORD; a message's
// action says what to do: answer, throw, exit, or sleep.
import { appendFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
// The runtime's own SDK, imported without bundling (NODE_PATH, as on Lambda).
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";

function record(event, context) {
  const ctx = event.requestContext;
  const line = {
    routeKey: ctx.routeKey,
    connectionId: ctx.connectionId,
    pid: process.pid,
    requestId: context.awsRequestId,
  };
  appendFileSync(process.env.RECORD, JSON.stringify(line) + "\n");
}

export const handler = async (event, context) => {
  const route = event.requestContext.routeKey;
  record(event, context);
  if (route === "$connect") {
    const fail = (event.queryStringParameters ?? {}).fail;
    if (fail === "exit") process.exit(1);
    if (fail === "throw") throw new Error("refused by node-alpha");
    if (fail === "sleep") await sleep(30000);
    return { statusCode: 200 };
  }
  if (route === "$disconnect") return { statusCode: 200 };
  const body = JSON.parse(event.body);
  console.log(`node-alpha handling ${body.action}`);
  switch (body.action) {
    case "whoami":
      return {
        statusCode: 200,
        body: JSON.stringify({
          function: process.env.AWS_LAMBDA_FUNCTION_NAME,
          greeting: process.env.GREETING ?? null,
          other: process.env.CJS_ONLY ?? null,
          module: import.meta.url,
          pid: process.pid,
          cwd: process.cwd(),
          node: process.version,
          sdk: typeof ApiGatewayManagementApiClient,
          remaining: context.getRemainingTimeInMillis(),
          memory: String(context.memoryLimitInMB),
          arn: context.invokedFunctionArn,
          requestId: context.awsRequestId,
          env: Object.keys(process.env).sort(),
          values: {
            AWS_EXECUTION_ENV: process.env.AWS_EXECUTION_ENV,
            NODE_PATH: process.env.NODE_PATH,
            LAMBDA_TASK_ROOT: process.env.LAMBDA_TASK_ROOT,
            _HANDLER: process.env._HANDLER,
          },
        }),
      };
    case "throw":
      throw new TypeError("boom from node");
    case "exit":
      process.exit(1);
    case "sleep":
      await sleep(Number(body.seconds ?? 30) * 1000);
      return { statusCode: 200, body: `slept ${process.pid}` };
    default:
      return { statusCode: 200, body: `node-alpha got ${body.action}` };
  }
};
