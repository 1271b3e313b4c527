// Slugids as Taskcluster makes them: a v4 UUID in URL-safe base64 without
// padding.  "Nice" slugids clear the top bit so they never start with "-".
import crypto from 'node:crypto';

export const SLUGID_PATTERN =
  /^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$/;

export const nice = () => {
  const bytes = crypto.randomBytes(16);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  bytes[0] &= 0x7f;
  return bytes.toString('base64url');
};
