import { createFinalizerHandler } from '../lib/finalize/handler.ts';
import { awsRuntime } from './runtime.ts';

export const handler = createFinalizerHandler(awsRuntime());
