// $disconnect: forget the connectionId (simple-websockets-chat-app's ondisconnect).
import { remove } from "./table.mjs";

export const handler = async (event) => {
  try {
    await remove(event.requestContext.connectionId);
  } catch (error) {
    return { statusCode: 500, body: "Failed to disconnect: " + error };
  }
  return { statusCode: 200, body: "Disconnected." };
};
