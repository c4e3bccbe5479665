import type { SQSClient } from '@aws-sdk/client-sqs';

/** One message body seen on the wire between a client and SQS. */
export interface CapturedMessage {
  direction: 'sent' | 'received';
  queueUrl: string;
  body: string;
  messageId?: string;
}

/**
 * Records every message body an SQS client sends (SendMessage, SendMessageBatch) or receives
 * (ReceiveMessage), by adding a middleware to the client itself. Given the local stack's own
 * client, it sees every body the relay and its event sources put on or take off any queue.
 */
export function captureSqsMessages(sqs: SQSClient): { messages: CapturedMessage[]; stop(): void } {
  const messages: CapturedMessage[] = [];
  const name = `test-capture-${Math.random().toString(36).slice(2)}`;
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName;
      const input = args.input as {
        QueueUrl?: string;
        MessageBody?: string;
        Entries?: Array<{ MessageBody?: string }>;
      };
      const queueUrl = input.QueueUrl ?? '';
      if (command === 'SendMessageCommand' && input.MessageBody !== undefined) {
        messages.push({ direction: 'sent', queueUrl, body: input.MessageBody });
      }
      if (command === 'SendMessageBatchCommand') {
        for (const entry of input.Entries ?? []) {
          if (entry.MessageBody !== undefined) messages.push({ direction: 'sent', queueUrl, body: entry.MessageBody });
        }
      }
      const result = await next(args);
      if (command === 'ReceiveMessageCommand') {
        const output = result.output as { Messages?: Array<{ Body?: string; MessageId?: string }> };
        for (const message of output.Messages ?? []) {
          messages.push({
            direction: 'received',
            queueUrl,
            body: message.Body ?? '',
            ...(message.MessageId !== undefined && { messageId: message.MessageId }),
          });
        }
      }
      return result;
    },
    { step: 'initialize', name },
  );
  return { messages, stop: () => void sqs.middlewareStack.remove(name) };
}
