// Management calls as an unchanged AWS function makes them, with the AWS SDK v3
// (tests/e2e/test_worker_endpoints.py): the counterpart of ../endpoints-python. The
// endpoint is built from the event, in the form the message names: "domain"
// (https://{domainName}/{stage}) or "execute-api" (https://{apiId}.execute-api.{region}
// .amazonaws.com/{stage}, as frameworks build it).
import { request } from "node:https";
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";

function endpoint(ctx, form) {
  if (form === "execute-api") {
    return `https://${ctx.apiId}.execute-api.${process.env.AWS_REGION}.amazonaws.com/${ctx.stage}`;
  }
  return `https://${ctx.domainName}/${ctx.stage}`;
}

// Any other https host is called where it is: here a local server of the test's.
function fetchOther(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.end();
  });
}

export const handler = async (event) => {
  const ctx = event.requestContext;
  if (ctx.routeKey === "$connect" || ctx.routeKey === "$disconnect") return { statusCode: 200 };
  const body = JSON.parse(event.body);
  if (body.whoami) return { statusCode: 200, body: ctx.connectionId };
  const url = endpoint(ctx, body.form);
  const client = new ApiGatewayManagementApiClient({ endpoint: url });
  const me = ctx.connectionId;
  await client.send(
    new PostToConnectionCommand({ ConnectionId: me, Data: Buffer.from(`posted via ${url}`) }),
  );
  const info = await client.send(new GetConnectionCommand({ ConnectionId: me }));
  if (body.victim) await client.send(new DeleteConnectionCommand({ ConnectionId: body.victim }));
  const other = body.other ? await fetchOther(body.other) : null;
  return {
    statusCode: 200,
    body: JSON.stringify({ url, sourceIp: info.Identity.SourceIp, other }),
  };
};
