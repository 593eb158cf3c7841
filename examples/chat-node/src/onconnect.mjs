// $connect: keep the new connectionId (simple-websockets-chat-app's onconnect).
import { put } from "./table.mjs";

export const handler = async (event) => {
  try {
    await put(event.requestContext.connectionId);
  } catch (error) {
    return { statusCode: 500, body: "Failed to connect: " + error };
  }
  return { statusCode: 200, body: "Connected." };
};
