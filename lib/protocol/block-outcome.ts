import { uploadIdHash } from './correlation.ts';
import type { FailureReason } from './errors.ts';
import type { BlockMessage, OutcomeMessage, OutcomeStatus } from './messages.ts';
import type { AnswerSummary } from './put-answer.ts';
import type { Ticket } from './ticket.ts';
import { displayUri } from './upload-target.ts';

/**
 * What an outcome keeps of a clip's ticket: the uploadUri without its query, the upload session
 * (a hash of the uploadId), expectedBlocks and gameClipId; never the uploadId or the tokenRef.
 */
export function ticketDetails(ticket: Ticket): Pick<OutcomeMessage, 'uploadUri' | 'uploadIdHash' | 'expectedBlocks' | 'gameClipId'> {
  const { uploadUri, uploadId, tokenRef: _tokenRef, ...kept } = ticket;
  return { uploadUri: displayUri(uploadUri), uploadIdHash: uploadIdHash(uploadId), ...kept };
}

/**
 * The outcome a block's fate makes for its clip: the block message's coordinates (see
 * {@link ticketDetails}), plus what happened (`details`).
 */
export function blockOutcome(
  message: BlockMessage,
  status: OutcomeStatus,
  details: { attempts: number; at: Date; reason?: FailureReason; answer?: AnswerSummary },
): OutcomeMessage {
  const { at, ...happened } = details;
  const { blockSize, blockNum, droppedAt } = message;
  return {
    v: 1,
    status,
    clip: message.clip,
    ...ticketDetails(message.ticket),
    blockSize,
    ...(blockNum !== undefined && { blockNum }),
    ...happened,
    droppedAt,
    at: at.toISOString(),
  };
}
