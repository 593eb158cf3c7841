// A Node.js function whose module throws while it loads (tests/e2e/test_workers_node.py).
throw new Error("cannot start: no database");

export const handler = async () => ({ statusCode: 200, body: "not broken" });
