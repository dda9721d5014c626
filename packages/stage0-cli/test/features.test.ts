import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectFeatures } from '../src/features.js';

describe('detectFeatures', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const filesystems = (text: string) => {
    dir = mkdtempSync(join(tmpdir(), 'rkt-features-'));
    const file = join(dir, 'filesystems');
    writeFileSync(file, text);
    return file;
  };

  it('claims overlay only when the kernel lists it', () => {
    expect(detectFeatures(filesystems('nodev\tsysfs\n\text4\nnodev\toverlay\n'))).toEqual(['-TPM', '+OVERLAY']);
    rmSync(dir as string, { recursive: true });
    expect(detectFeatures(filesystems('nodev\tsysfs\n\text4\nnodev\toverlayish\n'))).toEqual(['-TPM', '-OVERLAY']);
  });

  it('reports overlay absent when the list cannot be read', () => {
    expect(detectFeatures('/nonexistent/filesystems')).toEqual(['-TPM', '-OVERLAY']);
  });
});
