import { createDeadLetterHandler } from '../lib/handlers/dead-letter.ts';
import { awsRuntime } from './runtime.ts';

export const handler = createDeadLetterHandler(awsRuntime());
