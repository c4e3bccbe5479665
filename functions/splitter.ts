import { createSplitterHandler } from '../lib/handlers/splitter.ts';
import { awsRuntime } from './runtime.ts';

export const handler = createSplitterHandler(awsRuntime());
