// sendmessage: post {"action": "sendmessage", "data": ...}'s data to every connection
// (simple-websockets-chat-app's sendmessage, with the SDK v3 client the Lambda Node runtime
// ships and wsgate's runtimes/node provides).
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { remove, scan } from "./table.mjs";

export const handler = async (event) => {
  const { domainName, stage } = event.requestContext;
  const client = new ApiGatewayManagementApiClient({
    endpoint: `https://${domainName}/${stage}`,
  });
  const postData = JSON.parse(event.body).data;
  const connections = await scan();
  const posts = connections.map(async (connectionId) => {
    try {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: postData }));
    } catch (error) {
      if (error.$metadata?.httpStatusCode === 410) {
        console.log(`Found stale connection, deleting ${connectionId}`);
        await remove(connectionId);
      } else {
        throw error;
      }
    }
  });
  try {
    await Promise.all(posts);
  } catch (error) {
    console.error(`Failed to post: ${error.stack}`);
    return { statusCode: 500, body: error.stack };
  }
  return { statusCode: 200, body: "Data sent." };
};
