import { createFinalizerHandler } from '../lib/handlers/finalizer.ts';
import { awsRuntime } from './runtime.ts';

export const handler = createFinalizerHandler(awsRuntime());
