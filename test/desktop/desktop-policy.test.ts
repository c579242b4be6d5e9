// The desktop window's security settings, read from the same module the shell applies them from.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allowPermission,
  APP_ENTRY,
  externalUrlToOpen,
  isTrustedRendererUrl,
  webPreferences,
} from '../../src/main/desktop/policy';
import { contentSecurityPolicy } from '../../src/main/transport/security';
import { repoRoot } from '../helpers';

describe('desktop security policy', () => {
  it('isolates and sandboxes the renderer with no Node access', () => {
    expect(webPreferences('/x/preload.cjs')).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
    });
  });

  it('applies the policy in the shell (not a copy of it)', () => {
    const shell = fs.readFileSync(path.join(repoRoot, 'src/main/index.ts'), 'utf8');
    expect(shell).toMatch(/webPreferences: webPreferences\(/);
    expect(shell).toMatch(/setPermissionRequestHandler\(.*allowPermission/s);
    expect(shell).toMatch(/setWindowOpenHandler/);
    expect(shell).toMatch(/will-navigate/);
    expect(shell).toMatch(/registerIpcApi\(ipcMain, \{ apiFor: trustedApi \}\)/);
  });

  it('trusts only its own protocol (and the dev server while developing)', () => {
    expect(isTrustedRendererUrl(APP_ENTRY)).toBe(true);
    expect(isTrustedRendererUrl('loupe://app/assets/x.js')).toBe(true);
    expect(isTrustedRendererUrl('loupe://media/abc')).toBe(false);
    expect(isTrustedRendererUrl('loupe://app.evil/index.html')).toBe(false);
    expect(isTrustedRendererUrl('file:///etc/passwd')).toBe(false);
    expect(isTrustedRendererUrl('https://example.com/')).toBe(false);
    expect(isTrustedRendererUrl('http://localhost:5173/', 'http://localhost:5173')).toBe(true);
    expect(isTrustedRendererUrl('http://localhost:5174/', 'http://localhost:5173')).toBe(false);
  });

  it('denies every permission and opens only https links, outside the app', () => {
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fullscreen']) {
      expect(allowPermission(p)).toBe(false);
    }
    expect(externalUrlToOpen('https://onnx.ai/')).toBe('https://onnx.ai/');
    expect(externalUrlToOpen('file:///etc/passwd')).toBeNull();
    expect(externalUrlToOpen('javascript:alert(1)')).toBeNull();
    expect(externalUrlToOpen('smb://host/share')).toBeNull();
  });

  it('serves a strict Content-Security-Policy', () => {
    const csp = contentSecurityPolicy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
  });
});
