// A Node.js function as a CommonJS module (tests/e2e/test_workers_node.py).
const { ApiGatewayManagementApiClient } = require("@aws-sdk/client-apigatewaymanagementapi");

exports.handler = async (event, context) => ({
  statusCode: 200,
  body: JSON.stringify({
    function: process.env.AWS_LAMBDA_FUNCTION_NAME,
    greeting: process.env.GREETING ?? null,
    other: process.env.CJS_ONLY ?? null,
    module: __filename,
    pid: process.pid,
    sdk: typeof ApiGatewayManagementApiClient,
    executionEnv: process.env.AWS_EXECUTION_ENV,
    requestId: context.awsRequestId,
  }),
});
