import { createSplitterHandler } from '../lib/split/handler.ts';
import { awsRuntime } from './runtime.ts';

export const handler = createSplitterHandler(awsRuntime());
