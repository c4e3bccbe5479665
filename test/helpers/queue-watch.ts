import type { LocalQueue, LocalStack } from '../../local/stack.ts';

/** Where a message sits in a queue right now, or undefined once it is deleted. */
export function messageState(stack: LocalStack, queue: LocalQueue, messageId: string): 'ready' | 'delayed' | 'inflight' | undefined {
  const state = stack.fauxqs.inspectQueue(queue.name);
  if (state === undefined) throw new Error(`no queue ${queue.name}`);
  if (state.messages.ready.some((m) => m.messageId === messageId)) return 'ready';
  if (state.messages.delayed.some((m) => m.messageId === messageId)) return 'delayed';
  if (state.messages.inflight.some((entry) => entry.message.messageId === messageId)) return 'inflight';
  return undefined;
}

/** Every message body in a queue right now, whatever its state. */
export function queueBodies(stack: LocalStack, queue: LocalQueue): string[] {
  const state = stack.fauxqs.inspectQueue(queue.name);
  if (state === undefined) throw new Error(`no queue ${queue.name}`);
  return [...state.messages.ready, ...state.messages.delayed, ...state.messages.inflight.map((entry) => entry.message)].map((m) => m.body);
}

/** Polls until the message is deleted from the queue. @throws after `timeoutMs`, saying where it still is */
export async function waitForDeleted(stack: LocalStack, queue: LocalQueue, messageId: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = messageState(stack, queue, messageId);
    if (state === undefined) return;
    if (Date.now() > deadline) throw new Error(`message ${messageId} still ${state} in ${queue.name} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Polls until a queue holds nothing at all. @throws after `timeoutMs` with the counts */
export async function waitForEmptyQueue(stack: LocalStack, queue: LocalQueue, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = stack.queueCounts(queue);
    if (counts.ready + counts.inflight + counts.delayed === 0) return;
    if (Date.now() > deadline) throw new Error(`${queue.name} not empty after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
