// Octokit's own webhook verifier run on deliveries forge made: what a receiver written for
// GitHub with @octokit/webhooks does with each request.
//
//   node octokit_verify.mjs DIR < deliveries.json
//
// DIR holds node_modules/@octokit/webhooks (`npm install --prefix DIR @octokit/webhooks`);
// stdin is {"secret": "...", "deliveries": [{"id", "name", "body", "signature"}]}, with
// `body` the request body exactly as received and `signature` its X-Hub-Signature-256.
// Prints one JSON array: per delivery, whether `verify` accepted the signature, and whether
// `verifyAndReceive` handed the event to an `onAny` handler (with the error otherwise).
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.argv[2];
const require = createRequire(join(dir, "package.json"));
const { Webhooks } = await import(pathToFileURL(require.resolve("@octokit/webhooks")).href);

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, deliveries } = JSON.parse(input);

const webhooks = new Webhooks({ secret });
const received = new Set();
webhooks.onAny(({ id }) => {
  received.add(id);
});

const results = [];
for (const delivery of deliveries) {
  const verified = await webhooks.verify(delivery.body, delivery.signature);
  let error = null;
  try {
    await webhooks.verifyAndReceive({
      id: delivery.id,
      name: delivery.name,
      payload: delivery.body,
      signature: delivery.signature,
    });
  } catch (failure) {
    error = String(failure && failure.message);
  }
  results.push({
    id: delivery.id,
    name: delivery.name,
    verified,
    received: received.has(delivery.id),
    error,
  });
}
process.stdout.write(JSON.stringify(results));
