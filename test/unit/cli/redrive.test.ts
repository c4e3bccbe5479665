import { describe, expect, it } from 'vitest';
import { replanned } from '../../../cli/redrive.ts';
import { parseBlockMessage } from '../../../lib/protocol/messages.ts';
import { oneBlockMessage } from '../../helpers/block-message.ts';

const NOW = new Date('2026-11-25T12:00:00.000Z');

describe('Function: replanned (clip-relay redrive --dlq)', () => {
  it('Should send a dead-lettered block back planned now, everything else as it was', () => {
    const message = oneBlockMessage('clips', 'incoming/a.mp4', 'https://a.xboxlive.com/clips/1', { plannedAt: '2026-11-25T10:00:00.000Z' });
    expect(parseBlockMessage(replanned(JSON.stringify(message), NOW))).toStrictEqual({ ...message, plannedAt: NOW.toISOString() });
  });

  it('Should lift a version-1 dead letter to the current version as it replans it', () => {
    const { ticket, ...rest } = oneBlockMessage('clips', 'incoming/a.mp4', 'https://a.xboxlive.com/clips/1');
    const v1 = JSON.stringify({ ...rest, ...ticket, v: 1 });
    expect(JSON.parse(replanned(v1, NOW))).toStrictEqual({ ...rest, ticket, plannedAt: NOW.toISOString() });
  });

  it.each(['not json', '{"v":3,"clip":{}}', '[1,2]'])('Should send %j back untouched, for the fan-out to settle', (body) => {
    expect(replanned(body, NOW)).toBe(body);
  });
});
