// Stands in for the nodejs24.x runtime's bootstrap inside one execution environment: loads the
// handler module from the unzipped task root (argv[2]) by its serverless.yml name (argv[3],
// e.g. functions/fan-out.handler -> functions/fan-out.mjs, export `handler`), then runs the
// invocations the parent sends over IPC, one at a time, and answers with the result or error.
// Plain JavaScript importing nothing of clip-relay's: what resolves here is the zip's own code
// and, next to the task root, the AWS SDK (as the runtime provides it).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [taskRoot, handlerName] = process.argv.slice(2);
const dot = handlerName.lastIndexOf('.');
const modulePath = path.join(taskRoot, `${handlerName.slice(0, dot)}.mjs`);
const exportName = handlerName.slice(dot + 1);

const module = await import(pathToFileURL(modulePath).href);
const handler = module[exportName];
if (typeof handler !== 'function') throw new Error(`Runtime.HandlerNotFound: ${handlerName} is undefined or not exported`);

function contextOf(c) {
  const deadline = Date.now() + c.remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: c.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: c.invokedFunctionArn,
    memoryLimitInMB: c.memoryLimitInMB,
    awsRequestId: c.awsRequestId,
    logGroupName: c.logGroupName,
    logStreamName: c.logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

process.on('message', async (message) => {
  if (message?.type !== 'invoke') return;
  try {
    const result = await handler(message.event, contextOf(message.context));
    process.send({ type: 'result', id: message.id, ok: true, result: result === undefined ? null : result });
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    process.send({ type: 'result', id: message.id, ok: false, error: { name: e.name, message: e.message, stack: e.stack } });
  }
});
process.send({ type: 'ready' });
