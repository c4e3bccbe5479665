import * as z from 'zod/mini';

/** What one PUT got: a response from the service, or a transport failure with no answer. */
export type PutAnswer =
  | {
      kind: 'response';
      status: number;
      location?: string;
      retryAfter?: string;
      /** From a ServiceErrorResponse body, when the service sent one. */
      errorCode?: string;
      errorMessage?: string;
    }
  | { kind: 'transport'; code: string; message: string };

/** The transfer service's answer as outcomes and receipts record it: the part of an answer a receipt keeps. */
export const AnswerSummarySchema = z.strictObject({
  status: z.optional(z.number()),
  errorCode: z.optional(z.string()),
  errorMessage: z.optional(z.string()),
});
export type AnswerSummary = z.infer<typeof AnswerSummarySchema>;

export function answerSummary(answer: PutAnswer): AnswerSummary {
  if (answer.kind === 'transport') return { errorCode: answer.code, errorMessage: answer.message };
  return {
    status: answer.status,
    ...(answer.errorCode !== undefined && { errorCode: answer.errorCode }),
    ...(answer.errorMessage !== undefined && { errorMessage: answer.errorMessage }),
  };
}
