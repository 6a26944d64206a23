// The dashboard (issue 10: P-5, S-5, S-7) in a real browser (Debian's chromium through
// playwright-core) against a 3-agent cluster on loopback. The page is served by n3, which has
// a token: the page asks for it once. Every wait is bounded; nothing sleeps as an assertion.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { startCluster, waitForMaster } from '../helpers/cluster.js'
import type { Cluster } from '../helpers/cluster.js'
import { api, cleanup, ROOT, setApiToken, tempDir, waitFinal, waitFor } from '../helpers/agent.js'

// Run inside the page by page.evaluate (this file compiles without the DOM lib).
declare const document: { querySelector: (s: string) => { compareDocumentPosition: (o: unknown) => number } | null, documentElement: { scrollWidth: number } }
declare const window: { innerWidth: number, marker?: number }
declare const Node: { DOCUMENT_POSITION_FOLLOWING: number }

/** Screenshots go to docs/ (the README shows them) when CIS_SCREENSHOTS=1, else to a temp dir: a test run leaves the tree as it was. */
const shotDir = process.env.CIS_SCREENSHOTS === '1' ? join(ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'cis-shots-'))
const shot = (name: string): string => join(shotDir, name)
after(() => { if (process.env.CIS_SCREENSHOTS !== '1') cleanup(shotDir) })

const CHROMIUM = process.env.CIS_CHROMIUM ?? '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set CIS_CHROMIUM`
const TOKEN = 'dashboard-test-token'
/** How long any one thing may take to show on the page. */
const T = 15_000

/** Wait until an element matching `selector` shows `text` (bounded). */
async function shows (page: Page, selector: string, text: string | RegExp, timeout = T): Promise<void> {
  try {
    await page.locator(selector, { hasText: text }).first().waitFor({ state: 'visible', timeout })
  } catch (err) {
    const now = await page.locator(selector).first().textContent({ timeout: 500 }).catch(() => '(no such element)')
    throw new Error(`${selector} did not show ${String(text)} within ${timeout} ms; it shows: ${now ?? ''}\n${(err as Error).message.split('\n')[0]}`)
  }
}

async function submit (url: string, joblist: unknown): Promise<string> {
  const r = await api(url, '/v1/joblists', { body: joblist })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id as string
}

async function waitState (url: string, id: string, state: string): Promise<void> {
  await waitFor(`joblist ${id} to be ${state}`, async () => (await api(url, `/v1/joblists/${id}`)).body.state === state, T)
}

/** A shell command that waits (bounded) until `file` exists. */
const gate = (file: string): string => `i=0; while [ ! -f '${file}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done`

test('P-5, S-5, S-7: the dashboard in a browser against a 3-agent cluster', { skip, timeout: 120_000 }, async t => {
  setApiToken(TOKEN) // n3 needs it; the others ignore it
  const gates = tempDir('cis-dash-gates-')
  let c: Cluster | undefined
  let browser: Browser | undefined
  try {
    c = await startCluster([
      { name: 'n1', priority: 30, args: ['--resource', 'slot=4'] },
      { name: 'n2', priority: 20, args: ['--resource', 'slot=4'] },
      { name: 'n3', priority: 10, args: ['--resource', 'slot=4', '--token', TOKEN] }
    ])
    const [n1, n2, n3] = c.agents
    await waitForMaster(c.agents, 'n1')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } })
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', e => { pageErrors.push(e.message) })
    const open = async (hash: string): Promise<void> => { await page.goto(`${n3.url}/${hash}`) }

    await t.test('P-5: an agent with a token: the page asks for it once and sends it on every call', async () => {
      await open('#/')
      await page.locator('#token-input').waitFor({ state: 'visible', timeout: T })
      await page.fill('#token-input', TOKEN)
      await page.press('#token-input', 'Enter')
      await shows(page, '#nodes', 'n1')
      assert.equal(await page.locator('#token').isHidden(), true, 'the token form is gone')
      await page.reload()
      await shows(page, '#nodes', 'n3')
      assert.equal(await page.locator('#token').isHidden(), true, 'the tab kept the token (sessionStorage)')
      // A loopback agent without a token: no form at all.
      const other = await context.newPage()
      await other.goto(`${n2.url}/#/`)
      await shows(other, '#nodes', 'n1')
      assert.equal(await other.locator('#token').isHidden(), true)
      await other.close()
    })

    let sleeper = ''
    await t.test('S-5: the front page shows a failed joblist (with its failure line) above a running one, live; ack removes it', async () => {
      await open('#/')
      await shows(page, '#nodes', 'n1')
      const failed = await submit(n2.url, { name: 'broken-build', stages: [{ name: 'build', jobs: [{ name: 'compile', run: 'echo compiling; exit 3' }] }] })
      assert.equal((await waitFinal(n2.url, failed)).state, 'failed')
      sleeper = await submit(n2.url, {
        name: 'nightly',
        stages: [
          { name: 'build', jobs: [{ name: 'compile', run: 'echo built' }, { name: 'sleep', run: 'sleep 60' }] },
          { name: 'test', jobs: [{ name: 'unit', run: 'true' }] }
        ]
      })
      await waitState(n2.url, sleeper, 'running')
      const failedItem = `#attention li[data-joblist="${failed}"]`
      const runningRow = `#active tr[data-joblist="${sleeper}"]`
      await shows(page, failedItem, 'compile: exit 3 on')
      await shows(page, runningRow, 'running')
      await shows(page, runningRow, 'build')
      const above = await page.evaluate(([a, b]) => {
        const x = document.querySelector(a)
        const y = document.querySelector(b)
        return x !== null && y !== null && (x.compareDocumentPosition(y) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0
      }, [failedItem, runningRow])
      assert.equal(above, true, 'the failure comes before the running joblist')
      await shows(page, '#nodes tr[data-node="n1"]', 'master')
      mkdirSync(join(ROOT, 'docs'), { recursive: true })
      await page.screenshot({ path: shot('dashboard-front.png') })

      // Phone width: nothing sticks out sideways (wide tables scroll inside their box).
      await page.setViewportSize({ width: 390, height: 800 })
      const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)
      await page.setViewportSize({ width: 1200, height: 800 })
      assert.equal(fits, true, 'the front page fits a phone-width screen')

      // ack, from the keyboard: the failure leaves the top and shows as acknowledged below.
      await page.focus(`${failedItem} button`)
      await page.keyboard.press('Enter')
      await page.locator(failedItem).waitFor({ state: 'detached', timeout: T })
      await shows(page, `#ended tr[data-joblist="${failed}"]`, 'acknowledged')
      assert.equal((await api(n1.url, `/v1/joblists/${failed}`)).body.acked, true)
    })

    await t.test('P-5: a job finishing on another node updates the front page without a reload', async () => {
      await page.evaluate(() => { window.marker = 42 })
      const go = join(gates, 'remote-done')
      const id = await submit(n2.url, { name: 'remote', stages: [{ name: 'work', jobs: [{ name: 'on-n1', run: gate(go), target: { node: 'n1' } }, { name: 'quick', run: 'true' }] }] })
      const row = `#active tr[data-joblist="${id}"]`
      await shows(page, row, /1 running.*1 succeeded/)
      writeFileSync(go, '')
      await shows(page, `#ended tr[data-joblist="${id}"]`, 'succeeded')
      assert.equal(await page.locator(row).count(), 0, 'it left the running list')
      assert.equal(await page.evaluate(() => window.marker), 42, 'the same page, never reloaded')
      const view = (await api(n3.url, `/v1/joblists/${id}`)).body
      assert.equal(view.stages[0].jobs[0].physical[0].node, 'n1', 'the job ran on another node than the page\'s')
    })

    await t.test('P-5: stop works from the joblist page (a sleeping joblist becomes stopped)', async () => {
      await open('#/')
      await page.click(`#active a[href="#/joblist/${sleeper}"]`)
      await shows(page, 'h1', 'running')
      await shows(page, 'section[data-stage="build"]', 'succeeded')
      await shows(page, 'section[data-stage="build"] tr', /sleep\s*running/)
      await shows(page, 'section[data-stage="build"]', 'exit 0')
      await page.screenshot({ path: shot('dashboard-joblist.png') })
      page.once('dialog', d => { void d.accept() })
      await page.click('#stop-joblist')
      await shows(page, 'h1', 'stopped')
      assert.equal((await waitFinal(n1.url, sleeper)).state, 'stopped')
      assert.equal(await page.locator('#stop-joblist').count(), 0, 'no stop button on an ended joblist')
    })

    await t.test('P-5: a job\'s output follows live while it runs; pause holds it, resume shows it', async () => {
      const one = join(gates, 'out-1')
      const two = join(gates, 'out-2')
      const id = await submit(n1.url, { name: 'chatty', stages: [{ name: 's', jobs: [{ name: 'talk', run: `echo line-1; echo warn-1 >&2; ${gate(one)}; echo line-2; ${gate(two)}; echo line-3` }] }] })
      const jobId = (await api(n1.url, `/v1/joblists/${id}`)).body.stages[0].jobs[0].id as string
      await open(`#/job/${jobId}`)
      await shows(page, '#stdout', 'line-1')
      await shows(page, '#stderr', 'warn-1')
      await shows(page, 'h1', 'running')
      assert.equal((await api(n1.url, `/v1/jobs/${jobId}`)).body.state, 'running', 'the job still runs while its first lines show')
      await page.click('#follow-toggle')
      assert.equal(await page.getAttribute('#follow-toggle', 'aria-pressed'), 'true')
      writeFileSync(one, '')
      await shows(page, '#held', /\d+ new characters held/)
      assert.equal((await page.textContent('#stdout'))?.includes('line-2'), false, 'held while paused')
      await page.click('#follow-toggle')
      await shows(page, '#stdout', 'line-2')
      assert.equal((await api(n1.url, `/v1/jobs/${jobId}`)).body.state, 'running', 'line-2 showed while it still runs')
      writeFileSync(two, '')
      await shows(page, '#stdout', 'line-3')
      await shows(page, '#follow-state', 'ended: succeeded')
      await shows(page, 'h1', 'succeeded')
      assert.equal(await page.textContent('#stdout'), 'line-1\nline-2\nline-3\n', 'every line once, in order')
    })

    await t.test('S-7: the submit page shows a bad field at its path; a joblist with variables gets a form and runs with the value', async () => {
      await open('#/submit')
      await page.fill('#spec', 'name: oops\nstages:\n  - name: s\n    jobs:\n      - name: a\n')
      await page.click('#check')
      await shows(page, '#errors li[data-path="stages[0].jobs[0].run"]', 'required')
      assert.equal(await page.textContent('#errors li[data-path="stages[0].jobs[0].run"] code'), 'stages[0].jobs[0].run')

      const yaml = [
        'name: release',
        'vars:',
        '  - name: version',
        '    description: Release to build',
        '    default: "1.0"',
        "    pattern: '^[0-9.]+$'",
        '  - name: channel',
        '    choices: [stable, beta]',
        'stages:',
        '  - name: build',
        '    jobs: [{name: compile, run: "echo version={{version}} channel={{channel}}"}]',
        ''
      ].join('\n')
      await page.setInputFiles('#spec-file', { name: 'release.yaml', mimeType: 'application/yaml', buffer: Buffer.from(yaml) })
      await page.locator('#vars-form').waitFor({ timeout: T })
      assert.equal(await page.inputValue('#var-version'), '1.0', 'the default is filled in')
      await shows(page, '[data-var="version"]', 'Release to build')
      assert.deepEqual(await page.locator('#var-channel option').allTextContents(), ['— choose —', 'stable', 'beta'])
      await page.fill('#var-version', 'v2!')
      await page.selectOption('#var-channel', 'beta')
      await page.click('#submit-joblist')
      await shows(page, '#var-version-error[data-path="vars.version"]', 'does not match the pattern')
      await page.fill('#var-version', '2.1')
      await page.click('#submit-joblist')
      await page.locator('#submitted-link').waitFor({ timeout: T })
      const id = await page.textContent('#submitted-link') ?? ''
      const done = await waitFinal(n3.url, id)
      assert.equal(done.state, 'succeeded')
      assert.deepEqual(done.values, { version: '2.1', channel: 'beta' })
      const logs = await api(n3.url, `/v1/jobs/${encodeURIComponent(done.stages[0].jobs[0].id as string)}/logs`)
      assert.equal(logs.body.stdout, 'version=2.1 channel=beta\n')
      await page.click('#submitted-link')
      await shows(page, 'h1', /release\s*succeeded/)
    })

    await t.test('P-5: kill the master: the page served by a surviving agent shows the new master', async () => {
      await open('#/')
      await shows(page, '#nodes tr[data-node="n1"] .role', 'master')
      await n1.kill()
      await shows(page, '#nodes tr[data-node="n2"] .role', 'master')
      await shows(page, '#nodes tr[data-node="n1"]', 'offline')
      assert.equal(await page.locator('#nodes tr[data-node="n1"] .role').textContent(), '—', 'the dead node is master no more')
      await shows(page, '#status', 'master: n2')
    })

    assert.deepEqual(pageErrors, [], 'no uncaught error in the page')
  } finally {
    setApiToken(undefined)
    await browser?.close()
    await c?.stopAll()
    cleanup(gates)
  }
})
