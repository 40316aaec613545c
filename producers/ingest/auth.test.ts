import { writeKeyBanner } from './auth';

describe('writeKeyBanner', () => {
  it('shows the development key on a terminal only; elsewhere where it is kept', () => {
    const auth = { keys: ['dev_abc'], developmentKey: 'dev_abc' };
    expect(writeKeyBanner(auth, '/data', true)).toBe('write key: dev_abc');
    expect(writeKeyBanner(auth, '/data', false)).toBe('write key: in /data/write-key');
    expect(writeKeyBanner(auth, '/data', false)).not.toContain('dev_abc');
    expect(writeKeyBanner({ keys: ['k'] }, '/data', true)).toBe('');
  });
});
