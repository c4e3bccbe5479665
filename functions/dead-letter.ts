import { createDeadLetterHandler } from '../lib/dead-letter/handler.ts';
import { awsRuntime } from './runtime.ts';

export const handler = createDeadLetterHandler(awsRuntime());
