import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../../lib/runtime/concurrency.ts';

/** A task whose end the test decides, recording when it started and how many ran at once. */
function controlledTasks() {
  let running = 0;
  const record = { started: [] as number[], maxRunning: 0 };
  const finish = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  const task = (id: number) => () =>
    new Promise<number>((resolve, reject) => {
      running++;
      record.maxRunning = Math.max(record.maxRunning, running);
      record.started.push(id);
      finish.set(id, {
        resolve: () => {
          running--;
          resolve(id);
        },
        reject: (error) => {
          running--;
          reject(error);
        },
      });
    });
  return { task, record, finish };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Function: createLimiter', () => {
  it('Should run at most `limit` tasks at once, starting them in the order given, whatever order they end in', async () => {
    const limited = createLimiter(3);
    const { task, record, finish } = controlledTasks();
    const results = Array.from({ length: 10 }, (_, id) => limited(task(id)));
    await settle();
    expect(record.started).toStrictEqual([0, 1, 2]);
    for (const id of [1, 0, 2, 5, 3, 4, 8, 6, 7, 9]) {
      while (!finish.has(id)) await settle();
      finish.get(id)!.resolve();
      await settle();
    }
    await expect(Promise.all(results)).resolves.toStrictEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(record.started).toStrictEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(record.maxRunning).toBe(3);
  });

  it('Should make a task that arrives while a slot passes to a waiting one wait its turn, not run beside it', async () => {
    const limited = createLimiter(1);
    const { task, record, finish } = controlledTasks();
    const first = limited(task(0));
    const second = limited(task(1));
    await settle();
    // A third asked for the moment the first's result arrives: the slot already belongs to the second.
    const third = first.then(() => limited(task(2)));
    finish.get(0)!.resolve();
    await settle();
    expect(record.started).toStrictEqual([0, 1]);
    finish.get(1)!.resolve();
    await settle();
    finish.get(2)!.resolve();
    await expect(Promise.all([first, second, third])).resolves.toStrictEqual([0, 1, 2]);
    expect(record.maxRunning).toBe(1);
  });

  it('Should pass a failing task\'s error to its caller and give its slot to the next task', async () => {
    const limited = createLimiter(1);
    const { task, record, finish } = controlledTasks();
    const failing = limited(task(0));
    const next = limited(task(1));
    await settle();
    finish.get(0)!.reject(new Error('boom'));
    await expect(failing).rejects.toThrow('boom');
    await settle();
    finish.get(1)!.resolve();
    await expect(next).resolves.toBe(1);
    expect(record.started).toStrictEqual([0, 1]);
  });
});
