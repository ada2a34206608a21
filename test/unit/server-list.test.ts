import { describe, expect, it } from 'vitest';
import { parseServerList } from '../../src/db/servers.js';

describe('parseServerList', () => {
  it('when a URL names several hosts, then each gets a URL of its own with the rest kept', () => {
    const list = parseServerList(
      'postgres://app:s%40cret@db1:5432,db2:5433,[::1]/activities?sslmode=disable&target_session_attrs=read-write',
    );
    expect(list.target).toBe('read-write');
    expect(list.names).toEqual(['db1:5432', 'db2:5433', '[::1]:5432']);
    expect(list.urls).toEqual([
      'postgres://app:s%40cret@db1:5432/activities?sslmode=disable',
      'postgres://app:s%40cret@db2:5433/activities?sslmode=disable',
      'postgres://app:s%40cret@[::1]/activities?sslmode=disable',
    ]);
  });

  it('when a URL names one host and no target, then it is used exactly as given', () => {
    const url = 'postgresql://u:a,b@db/x?application_name=a%20b';
    expect(parseServerList(url, 'read-write')).toEqual({
      urls: [url],
      names: ['db:5432'],
      target: 'read-write',
    });
  });

  it('when the target is missing, then the fallback applies; a wrong one is refused by name', () => {
    expect(parseServerList('postgres://h1,h2/db', 'prefer-standby').target).toBe('prefer-standby');
    expect(() => parseServerList('postgres://h1,h2/db?target_session_attrs=master')).toThrow(
      'has target_session_attrs=master; use one of',
    );
    expect(() => parseServerList('postgres://h1,,h2/db')).toThrow('has an empty host');
    expect(() => parseServerList('mysql://h1/db')).toThrow('must start with postgres://');
  });
});
