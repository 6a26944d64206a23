// S-1: cron expressions, time zones and daylight saving, pure (times are passed in).
// Expected instants are worked out from the UTC offsets, not read off the library:
// Europe/Berlin is CET (UTC+1) in winter and CEST (UTC+2) in summer; in 2026 it springs
// forward on Sunday 2026-03-29 at 02:00 CET (= 01:00Z, the wall clock jumps to 03:00 CEST)
// and falls back on Sunday 2026-10-25 at 03:00 CEST (= 01:00Z, the wall clock goes back to
// 02:00 CET, so 02:00-02:59 happens twice: 00:00Z-00:59Z and 01:00Z-01:59Z).
// America/New_York is EST (UTC-5) / EDT (UTC-4); in 2026 it springs forward on 2026-03-08 at
// 02:00 EST (= 07:00Z) and falls back on 2026-11-01 at 02:00 EDT (= 06:00Z), so 01:00-01:59
// happens twice (05:00Z-05:59Z EDT, then 06:00Z-06:59Z EST).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkCron, checkTimezone, instantsBetween, nextInstant, validateJoblist } from '../../src/spec/index.js'

const Z = (iso: string): number => {
  const t = Date.parse(iso)
  assert.ok(Number.isFinite(t), `bad test date ${iso}`)
  return t
}
const iso = (t: number): string => new Date(t).toISOString()

/** All instants in (after, until], as ISO strings (the range is small: no limit hit). */
function between (cron: string, tz: string, after: string, until: string): string[] {
  const r = instantsBetween(cron, tz, Z(after), Z(until), 1000)
  assert.equal(r.more, false)
  return r.instants.map(iso)
}

/** The wall clock in `tz` at `t` (by Intl, independent of the cron library): `YYYY-MM-DD HH:MM:SS`. */
function wall (t: number, tz: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).formatToParts(t)
  const p = (type: string): string => parts.find(x => x.type === type)?.value ?? '?'
  return `${p('year')}-${p('month')}-${p('day')} ${p('hour')}:${p('minute')}:${p('second')}`
}

const base = (): any => ({ name: 'nightly', stages: [{ name: 'build', jobs: [{ name: 'compile', run: 'make' }] }] })

function scheduleIssues (schedule: unknown): Array<{ path: string, message: string }> {
  const r = validateJoblist({ ...base(), schedule })
  assert.equal(r.ok, false, `expected ${JSON.stringify(schedule)} to be refused`)
  return r.ok ? [] : r.issues
}

function hasIssue (list: Array<{ path: string, message: string }>, path: string, re: RegExp): void {
  assert.ok(list.some(i => i.path === path && re.test(i.message)), `no issue at ${path} matching ${re}: ${JSON.stringify(list)}`)
}

test('S-1: a 5-field expression fires on the minute, in the time zone given', () => {
  // 02:00 every day: in UTC that is 02:00Z; in Berlin in June (CEST, UTC+2) it is 00:00Z.
  assert.deepEqual(between('0 2 * * *', 'UTC', '2026-06-01T00:00:00Z', '2026-06-03T00:00:00Z'), ['2026-06-01T02:00:00.000Z', '2026-06-02T02:00:00.000Z'])
  assert.deepEqual(between('0 2 * * *', 'Europe/Berlin', '2026-06-01T00:00:00Z', '2026-06-03T00:00:00Z'), ['2026-06-02T00:00:00.000Z', '2026-06-03T00:00:00.000Z'], '02:00 CEST is 00:00Z: the range excludes its start and includes its end')
  // In January (CET, UTC+1) the same expression is 01:00Z.
  assert.deepEqual(between('0 2 * * *', 'Europe/Berlin', '2026-01-10T00:00:00Z', '2026-01-11T00:00:00Z'), ['2026-01-10T01:00:00.000Z'])
  // Every 15 minutes from 09:00 to 09:59 on weekdays: Friday 2026-01-09 gives 4, the weekend none.
  assert.deepEqual(between('*/15 9 * * 1-5', 'UTC', '2026-01-09T00:00:00Z', '2026-01-12T00:00:00Z'), [
    '2026-01-09T09:00:00.000Z', '2026-01-09T09:15:00.000Z', '2026-01-09T09:30:00.000Z', '2026-01-09T09:45:00.000Z'
  ])
  assert.equal(checkCron('0 2 * * *'), null)
  assert.equal(checkCron('0 2 * * *', 'America/New_York'), null)
})

test('S-1: a 6-field expression has seconds first (`*/2 * * * * *` is every even second)', () => {
  assert.equal(checkCron('*/2 * * * * *'), null)
  assert.deepEqual(between('*/2 * * * * *', 'UTC', '2026-06-01T00:00:00Z', '2026-06-01T00:00:07Z'), [
    '2026-06-01T00:00:02.000Z', '2026-06-01T00:00:04.000Z', '2026-06-01T00:00:06.000Z'
  ])
  // From an odd second or mid-second, the next even second.
  assert.equal(iso(nextInstant('*/2 * * * * *', 'UTC', Z('2026-06-01T00:00:01Z')) ?? 0), '2026-06-01T00:00:02.000Z')
  assert.equal(iso(nextInstant('*/2 * * * * *', 'UTC', Z('2026-06-01T00:00:02.500Z')) ?? 0), '2026-06-01T00:00:04.000Z')
  // 6 fields with a fixed second: 30 seconds past 12:00.
  assert.deepEqual(between('30 0 12 * * *', 'UTC', '2026-06-01T00:00:00Z', '2026-06-02T00:00:00Z'), ['2026-06-01T12:00:30.000Z'])
})

test('S-1: @hourly and @daily nicknames, in the time zone given', () => {
  assert.equal(checkCron('@hourly'), null)
  assert.equal(checkCron('@daily'), null)
  assert.deepEqual(between('@hourly', 'UTC', '2026-06-01T10:00:00Z', '2026-06-01T13:00:00Z'), ['2026-06-01T11:00:00.000Z', '2026-06-01T12:00:00.000Z', '2026-06-01T13:00:00.000Z'])
  // Midnight in Berlin in June is 22:00Z the day before.
  assert.deepEqual(between('@daily', 'Europe/Berlin', '2026-06-01T00:00:00Z', '2026-06-03T00:00:00Z'), ['2026-06-01T22:00:00.000Z', '2026-06-02T22:00:00.000Z'])
  // Midnight in New York in January (EST) is 05:00Z.
  assert.deepEqual(between('@daily', 'America/New_York', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'), ['2026-01-01T05:00:00.000Z'])
  // An hour whose UTC offset is not whole: India (UTC+5:30), so every hour falls on :30 UTC.
  assert.deepEqual(between('@hourly', 'Asia/Kolkata', '2026-06-01T00:00:00Z', '2026-06-01T02:00:00Z'), ['2026-06-01T00:30:00.000Z', '2026-06-01T01:30:00.000Z'])
})

test('S-1: bad cron expressions are refused with a clear message at schedule.cron', () => {
  const cases: Array<[string, RegExp]> = [
    ['61 * * * *', /minute/i],
    ['* 24 * * *', /hour/i],
    ['0 0 * * 8', /day ?of ?week/i],
    ['0 0 32 * *', /day/i],
    ['0 0 * 13 *', /month/i],
    ['*/0 * * * *', /step/i],
    ['0 0 31 4 *', /never fires/],
    ['0 0 30 2 *', /never fires/],
    ['nonsense', /1 field:/],
    ['* * *', /3 fields/],
    ['0 0 * * * * *', /7 fields/],
    ['@reboot', /unknown nickname/]
  ]
  for (const [cron, re] of cases) {
    const problem = checkCron(cron)
    assert.ok(problem !== null && re.test(problem), `${cron}: ${String(problem)} should match ${re}`)
    hasIssue(scheduleIssues({ cron }), 'schedule.cron', re)
  }
  // February 29th does fire (in leap years), so it is not refused.
  assert.equal(checkCron('0 0 29 2 *'), null)
})

test('S-1: the message for a wrong number of fields says what is allowed, without contradicting itself', () => {
  // Only 5 or 6 fields (or a nickname) are accepted: a message that also offers 7 would mislead.
  for (const cron of ['0 0 * * * * *', '* * *', 'nonsense', '0 0 * *']) {
    const problem = checkCron(cron)
    assert.ok(problem !== null, `${cron} must be refused`)
    assert.match(problem, /5/, `${cron}: ${problem}`)
    assert.match(problem, /6/, `${cron}: ${problem}`)
    assert.doesNotMatch(problem, /seven|\b7\b(?! fields)/i, `${cron}: ${problem}`)
  }
  assert.match(checkCron('0 0 * * * * *') ?? '', /7 fields/)
  assert.match(checkCron('@every 5m') ?? '', /@hourly|@daily/, 'an unknown nickname names the known ones')
})

test('S-1: bad time zones are refused at schedule.timezone; the default is UTC', () => {
  for (const timezone of ['Mars/Olympus', '', '+02:00', 'Europe/Berln']) {
    assert.match(checkTimezone(timezone) ?? '', /unknown time zone/)
    hasIssue(scheduleIssues({ cron: '0 2 * * *', timezone }), 'schedule.timezone', /unknown time zone .*IANA/)
  }
  assert.equal(checkTimezone('Europe/Berlin'), null)
  assert.equal(checkTimezone('UTC'), null)
  hasIssue(scheduleIssues({ cron: '0 2 * * *', timezone: 7 }), 'schedule.timezone', /IANA/)
  // A bad time zone and a bad expression: both are named.
  const both = scheduleIssues({ cron: '61 * * * *', timezone: 'Mars/Olympus' })
  hasIssue(both, 'schedule.timezone', /unknown time zone/)
  hasIssue(both, 'schedule.cron', /minute/i)
  const ok = validateJoblist({ ...base(), schedule: { cron: '0 2 * * *' } })
  assert.ok(ok.ok)
  assert.deepEqual(ok.spec.schedule, { cron: '0 2 * * *', timezone: 'UTC', onFailure: 'pause', overlap: 'skip', catchUp: 'one', maxCatchUp: 100 })
})

test('S-1: the other schedule fields are checked, each at its path', () => {
  hasIssue(scheduleIssues({}), 'schedule.cron', /required/)
  hasIssue(scheduleIssues({ cron: '' }), 'schedule.cron', /empty/)
  hasIssue(scheduleIssues('0 2 * * *'), 'schedule', /mapping with cron/)
  hasIssue(scheduleIssues({ cron: '0 2 * * *', onFailure: 'retry' }), 'schedule.onFailure', /pause or continue/)
  hasIssue(scheduleIssues({ cron: '0 2 * * *', overlap: 'queue' }), 'schedule.overlap', /skip or allow/)
  hasIssue(scheduleIssues({ cron: '0 2 * * *', catchUp: 'some' }), 'schedule.catchUp', /one, none or all/)
  hasIssue(scheduleIssues({ cron: '0 2 * * *', maxCatchUp: 0 }), 'schedule.maxCatchUp', /at least 1/)
  hasIssue(scheduleIssues({ cron: '0 2 * * *', maxCatchUp: 1.5 }), 'schedule.maxCatchUp', /whole number/)
  hasIssue(scheduleIssues({ cron: '0 2 * * *', tz: 'UTC' }), 'schedule.tz', /unknown field 'tz'/)
  hasIssue(scheduleIssues({ cron: '0 2 * * *', timezon: 'UTC' }), 'schedule.timezon', /did you mean 'timezone'/)
})

test('S-1 DST: Berlin spring forward, a fixed time in the skipped hour runs once, at the first valid time after the gap', () => {
  // 02:30 daily. 03-28: 02:30 CET = 01:30Z. 03-29: 02:30 does not exist; the first valid time
  // after the gap is 03:00 CEST = 01:00Z. 03-30: 02:30 CEST = 00:30Z.
  const got = between('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', '2026-03-30T12:00:00Z')
  assert.deepEqual(got, ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'])
  assert.deepEqual(got.map(t => wall(Z(t), 'Europe/Berlin')), ['2026-03-28 02:30:00', '2026-03-29 03:00:00', '2026-03-30 02:30:00'])
  // Exactly one instant on the day of the change.
  assert.equal(got.filter(t => wall(Z(t), 'Europe/Berlin').startsWith('2026-03-29')).length, 1)
})

test('S-1 DST: Berlin fall back, a fixed time in the repeated hour runs once (the first occurrence), not twice', () => {
  // 02:30 daily. 10-24: 02:30 CEST = 00:30Z. 10-25: 02:30 happens at 00:30Z (CEST) and again at
  // 01:30Z (CET): run only at 00:30Z. 10-26: 02:30 CET = 01:30Z.
  const got = between('30 2 * * *', 'Europe/Berlin', '2026-10-23T12:00:00Z', '2026-10-26T12:00:00Z')
  assert.deepEqual(got, ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z'])
  assert.ok(!got.includes('2026-10-25T01:30:00.000Z'), 'the second 02:30 (CET) is not a second run')
  // Whatever the starting point inside the repeated hour, the next run is the next day's.
  for (const after of ['2026-10-25T00:30:00Z', '2026-10-25T00:45:00Z', '2026-10-25T01:00:00Z', '2026-10-25T01:29:59Z']) {
    assert.equal(iso(nextInstant('30 2 * * *', 'Europe/Berlin', Z(after)) ?? 0), '2026-10-26T01:30:00.000Z', `after ${after}`)
  }
})

test('S-1 DST: Berlin, an hourly job runs on both occurrences of the repeated hour and not in the skipped hour', () => {
  // Spring: 00:30 CET (23:30Z), 01:30 CET (00:30Z), [02:30 does not exist], 03:30 CEST (01:30Z),
  // 04:30 CEST (02:30Z). Real time: one run per real hour, never a local 02:30.
  const spring = between('30 * * * *', 'Europe/Berlin', '2026-03-28T23:00:00Z', '2026-03-29T03:00:00Z')
  assert.deepEqual(spring, ['2026-03-28T23:30:00.000Z', '2026-03-29T00:30:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-29T02:30:00.000Z'])
  assert.deepEqual(spring.map(t => wall(Z(t), 'Europe/Berlin').slice(11)), ['00:30:00', '01:30:00', '03:30:00', '04:30:00'])
  // Fall: 01:30 CEST (23:30Z), 02:30 CEST (00:30Z), 02:30 CET (01:30Z), 03:30 CET (02:30Z).
  const fall = between('30 * * * *', 'Europe/Berlin', '2026-10-24T23:00:00Z', '2026-10-25T03:00:00Z')
  assert.deepEqual(fall, ['2026-10-24T23:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T02:30:00.000Z'])
  assert.deepEqual(fall.map(t => wall(Z(t), 'Europe/Berlin').slice(11)), ['01:30:00', '02:30:00', '02:30:00', '03:30:00'])
})

test('S-1 DST: a list of fixed times is fixed-time (as in Vixie cron); a step over a wildcard is an interval job', () => {
  // `0,30 2`: no wildcard in minute or hour. Spring: 02:00 and 02:30 do not exist; both come
  // to the first valid time after the gap, 03:00 CEST = 01:00Z, and that is one instant.
  // Fall: the first 02:00 and 02:30 (CEST: 00:00Z, 00:30Z), not the repeats (01:00Z, 01:30Z).
  assert.deepEqual(between('0,30 2 * * *', 'Europe/Berlin', '2026-03-29T00:00:00Z', '2026-03-29T23:00:00Z'), ['2026-03-29T01:00:00.000Z'])
  assert.deepEqual(between('0,30 2 * * *', 'Europe/Berlin', '2026-10-24T23:00:00Z', '2026-10-25T12:00:00Z'), ['2026-10-25T00:00:00.000Z', '2026-10-25T00:30:00.000Z'])
  // `*/30 2`: a wildcard step, so it follows real time: nothing in the skipped hour, and both
  // passes through the repeated hour (00:00Z, 00:30Z CEST; 01:00Z, 01:30Z CET).
  assert.deepEqual(between('*/30 2 * * *', 'Europe/Berlin', '2026-03-29T00:00:00Z', '2026-03-29T23:00:00Z'), [])
  assert.deepEqual(between('*/30 2 * * *', 'Europe/Berlin', '2026-10-24T23:00:00Z', '2026-10-25T12:00:00Z'), [
    '2026-10-25T00:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T01:30:00.000Z'
  ])
})

test('S-1 DST: New York spring forward (2026-03-08) and fall back (2026-11-01)', () => {
  // 02:30 daily. 03-07: 02:30 EST = 07:30Z. 03-08: no 02:30; 03:00 EDT = 07:00Z. 03-09: 02:30 EDT = 06:30Z.
  assert.deepEqual(between('30 2 * * *', 'America/New_York', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z'), [
    '2026-03-07T07:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z'
  ])
  // 01:30 daily. 10-31: 01:30 EDT = 05:30Z. 11-01: 01:30 EDT = 05:30Z and 01:30 EST = 06:30Z: once,
  // the first. 11-02: 01:30 EST = 06:30Z.
  assert.deepEqual(between('30 1 * * *', 'America/New_York', '2026-10-31T00:00:00Z', '2026-11-03T00:00:00Z'), [
    '2026-10-31T05:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z'
  ])
  // Hourly across the fall back: 00:30 EDT (04:30Z), 01:30 EDT (05:30Z), 01:30 EST (06:30Z), 02:30 EST (07:30Z).
  const fall = between('30 * * * *', 'America/New_York', '2026-11-01T04:00:00Z', '2026-11-01T08:00:00Z')
  assert.deepEqual(fall, ['2026-11-01T04:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-01T06:30:00.000Z', '2026-11-01T07:30:00.000Z'])
  assert.deepEqual(fall.map(t => wall(Z(t), 'America/New_York').slice(11)), ['00:30:00', '01:30:00', '01:30:00', '02:30:00'])
  // Hourly across the spring forward: 00:30 EST (05:30Z), 01:30 EST (06:30Z), [no 02:30], 03:30 EDT (07:30Z).
  const spring = between('30 * * * *', 'America/New_York', '2026-03-08T05:00:00Z', '2026-03-08T08:00:00Z')
  assert.deepEqual(spring, ['2026-03-08T05:30:00.000Z', '2026-03-08T06:30:00.000Z', '2026-03-08T07:30:00.000Z'])
  assert.deepEqual(spring.map(t => wall(Z(t), 'America/New_York').slice(11)), ['00:30:00', '01:30:00', '03:30:00'])
})

test('S-1 DST: over a whole year, a daily job runs once per local day, at its time or just after a gap', () => {
  for (const [tz, cron, hhmm, days] of [['Europe/Berlin', '30 2 * * *', '02:30', 365], ['America/New_York', '30 1 * * *', '01:30', 365]] as const) {
    const r = instantsBetween(cron, tz, Z('2025-12-31T23:59:59Z'), Z('2026-12-31T12:00:00Z'), 1000)
    const localDays = r.instants.map(t => wall(t, tz).slice(0, 10))
    assert.equal(new Set(localDays).size, r.instants.length, `${tz}: never twice on one local day`)
    // 2026-01-01 .. 2026-12-31: every local day (the last one's 02:30 is before 12:00Z in both zones).
    assert.equal(r.instants.length, days, `${tz}: one run each day of 2026`)
    const off = r.instants.filter(t => wall(t, tz).slice(11, 16) !== hhmm).map(t => wall(t, tz))
    if (tz === 'Europe/Berlin') assert.deepEqual(off, ['2026-03-29 03:00:00'], 'only the spring-forward day is off its time')
    else assert.deepEqual(off, [], '01:30 exists every day in New York (the gap is 02:00-02:59)')
  }
})

test('S-1: instantsBetween covers (after, until]: after is excluded, until included', () => {
  const t0 = Z('2026-06-01T00:00:00Z')
  const r = instantsBetween('* * * * *', 'UTC', t0, t0 + 3 * 60_000, 10)
  assert.deepEqual(r.instants, [t0 + 60_000, t0 + 120_000, t0 + 180_000])
  assert.equal(r.more, false)
  assert.deepEqual(instantsBetween('* * * * *', 'UTC', t0, t0 + 59_999, 10), { instants: [], more: false })
  assert.deepEqual(instantsBetween('* * * * *', 'UTC', t0 + 1, t0 + 60_000, 10), { instants: [t0 + 60_000], more: false })
  assert.equal(nextInstant('* * * * *', 'UTC', t0), t0 + 60_000, 'strictly after')
  assert.equal(nextInstant('* * * * *', 'UTC', t0 - 1), t0)
})

test('S-1: instantsBetween returns at most `limit` instants, oldest first, and says whether more remain', () => {
  const t0 = Z('2026-06-01T00:00:00Z')
  const min = 60_000
  // Exactly `limit` in range: all of them, nothing more.
  assert.deepEqual(instantsBetween('* * * * *', 'UTC', t0, t0 + 5 * min, 5), { instants: [1, 2, 3, 4, 5].map(k => t0 + k * min), more: false })
  // One more than the limit: the oldest `limit`, and more.
  assert.deepEqual(instantsBetween('* * * * *', 'UTC', t0, t0 + 6 * min, 5), { instants: [1, 2, 3, 4, 5].map(k => t0 + k * min), more: true })
  // Continuing from the last one returned gives the rest, with no instant twice or lost.
  const seen: number[] = []
  let after = t0
  for (let pass = 0; pass < 10; pass++) {
    const r = instantsBetween('* * * * *', 'UTC', after, t0 + 23 * min, 5)
    seen.push(...r.instants)
    if (!r.more) break
    after = r.instants[r.instants.length - 1]
  }
  assert.deepEqual(seen, Array.from({ length: 23 }, (_, k) => t0 + (k + 1) * min))
  // A limit of 0 gives nothing, but says whether there is something.
  assert.deepEqual(instantsBetween('* * * * *', 'UTC', t0, t0 + min, 0), { instants: [], more: true })
  assert.deepEqual(instantsBetween('* * * * *', 'UTC', t0, t0 + min - 1, 0), { instants: [], more: false })
  // An empty or reversed range.
  assert.deepEqual(instantsBetween('* * * * *', 'UTC', t0, t0, 5), { instants: [], more: false })
  assert.deepEqual(instantsBetween('* * * * *', 'UTC', t0, t0 - min, 5), { instants: [], more: false })
})
