import settingsJson from '../config/settings.json' with { type: 'json' };

/** The deployment settings serverless.yml reads; the local stack reads the very same file. */
export type Settings = typeof settingsJson;

/** A copy of config/settings.json, so callers may adjust timings without touching the original. */
export function loadSettings(): Settings {
  return structuredClone(settingsJson);
}
