// Checks the Linear vectors of vectors.json with Linear's official SDK (@linear/sdk,
// npm), which verifies but does not sign. Its clock is set to each vector's `now`,
// since it refuses a webhookTimestamp more than 60 s from the current time.
//
//   (cd .tools/node-vectors && npm install @linear/sdk@98.0.0)
//   NODE_PATH=.tools/node-vectors/node_modules node tests/data/webhooks/linear_check.mjs
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH.split(":")[0] + "/");
const { LinearWebhookClient, LinearWebhooks } = require("@linear/sdk/webhooks");
const Verifier = LinearWebhookClient ?? LinearWebhooks;
const file = new URL("./vectors.json", import.meta.url);
const { vectors } = JSON.parse(readFileSync(file, "utf8"));
let checked = 0;
for (const v of vectors.filter((v) => v.scheme === "linear")) {
  Date.now = () => v.now * 1000;
  const ok = new Verifier(v.secret).verify(Buffer.from(v.body), v.headers["Linear-Signature"]);
  if (!ok) throw new Error(`@linear/sdk refused ${v.name}`);
  checked++;
}
console.log(`@linear/sdk accepted ${checked} Linear vector(s)`);
