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

/** The part of an answer a receipt keeps. */
/** The transfer service's answer as outcomes and receipts record it. */
export interface AnswerSummary {
  status?: number;
  errorCode?: string;
  errorMessage?: string;
}

export function answerSummary(answer: PutAnswer): AnswerSummary {
  if (answer.kind === 'transport') return { errorCode: answer.code, errorMessage: answer.message };
  return {
    status: answer.status,
    ...(answer.errorCode !== undefined && { errorCode: answer.errorCode }),
    ...(answer.errorMessage !== undefined && { errorMessage: answer.errorMessage }),
  };
}
