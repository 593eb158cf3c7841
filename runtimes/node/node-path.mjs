// Preloaded by wsgate into every Node.js worker (`node --import`), before the runtime
// interface client. Lambda's Node.js runtimes (18.x on) resolve a bare ES module import
// through the folders of NODE_PATH, as require() does, so a function imports the runtime's
// own AWS SDK (`import {...} from "@aws-sdk/client-apigatewaymanagementapi"`) without
// bundling it; Node itself reads NODE_PATH for require() only. This registers a resolve
// hook that tries those folders after Node's own resolution has failed.
import { register } from "node:module";

const paths = (process.env.NODE_PATH ?? "").split(":").filter(Boolean);
register("./node-path-hooks.mjs", import.meta.url, { data: { paths } });
