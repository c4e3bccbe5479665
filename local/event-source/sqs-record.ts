import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';

/**
 * An SQS record exactly as Lambda delivers it. It differs from `SQSRecord` in one place: when the
 * message has no attributes Lambda sends `"md5OfMessageAttributes": null` rather than leaving the
 * key out, so a schema that only allows a string or `undefined` there would reject real events.
 */
export type LambdaSqsRecord = Omit<SQSRecord, 'md5OfMessageAttributes'> & {
  md5OfMessageAttributes: string | null;
};

/** Where the records come from, stamped on every record. */
export interface SqsRecordSource {
  eventSourceARN: string;
  awsRegion: string;
}

// Lambda's own key order; anything SQS adds beyond these (AWSTraceHeader, DeadLetterQueueSourceArn)
// is appended after them.
const STANDARD_ATTRIBUTE_ORDER = [
  'ApproximateReceiveCount',
  'SentTimestamp',
  'SenderId',
  'ApproximateFirstReceiveTimestamp',
] as const;
const FIFO_ATTRIBUTE_ORDER = [
  'ApproximateReceiveCount',
  'SentTimestamp',
  'SequenceNumber',
  'MessageGroupId',
  'SenderId',
  'MessageDeduplicationId',
  'ApproximateFirstReceiveTimestamp',
] as const;

/**
 * Converts a message from `ReceiveMessage` (requested with `MessageSystemAttributeNames: ['All']` and
 * `MessageAttributeNames: ['All']`) into the record shape Lambda's SQS event source mapping produces.
 */
export function toLambdaSqsRecord(message: Message, source: SqsRecordSource): LambdaSqsRecord {
  if (message.MessageId === undefined || message.ReceiptHandle === undefined) {
    throw new Error('ReceiveMessage returned a message without MessageId or ReceiptHandle');
  }
  return {
    messageId: message.MessageId,
    receiptHandle: message.ReceiptHandle,
    body: message.Body ?? '',
    attributes: toRecordAttributes(message.Attributes ?? {}),
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [name, toRecordMessageAttribute(value)]),
    ),
    md5OfMessageAttributes: message.MD5OfMessageAttributes ?? null,
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: source.eventSourceARN,
    awsRegion: source.awsRegion,
  };
}

function toRecordAttributes(attributes: Partial<Record<string, string>>): SQSRecordAttributes {
  const order = attributes.MessageGroupId === undefined ? STANDARD_ATTRIBUTE_ORDER : FIFO_ATTRIBUTE_ORDER;
  const known: readonly string[] = order;
  const ordered: Record<string, string> = {};
  for (const name of [...order, ...Object.keys(attributes).filter((name) => !known.includes(name))]) {
    const value = attributes[name];
    if (value !== undefined) ordered[name] = value;
  }
  return ordered as unknown as SQSRecordAttributes;
}

function toRecordMessageAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  return {
    ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
    ...(value.BinaryValue === undefined ? {} : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
    // Lambda always sends the (reserved, never populated) list members as empty arrays.
    stringListValues: [],
    binaryListValues: [],
    dataType: value.DataType ?? 'String',
  };
}
