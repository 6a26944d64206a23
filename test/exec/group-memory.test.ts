// G-2, issue 12: a job's memory is sampled from its own process tree (src/exec/group-memory.ts),
// not from every process of the machine, which the sampler reads only every FULL_PASS_EVERY
// ticks (for a group's processes that left the tree). A fake /proc counts what is read; the
// last test compares the two ways on the real /proc.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { MAX_TREE, passAll, treePages } from '../../src/exec/group-memory.js'
import type { ProcReader } from '../../src/exec/group-memory.js'

const linuxProc = process.platform === 'linux' && existsSync('/proc/self/stat')

interface FakeProcess { pgid: number, rss: number, children?: number[] }

/** A /proc of these processes (stat with the group and rss where the kernel puts them), counting each file read. */
function fakeProc (processes: Map<number, FakeProcess>, o: { childrenFiles?: boolean } = {}): ProcReader & { reads: string[] } {
  const reads: string[] = []
  return {
    reads,
    names: dir => dir === '/proc' ? ['self', 'meminfo', ...[...processes.keys()].map(String)] : undefined,
    text: path => {
      reads.push(path)
      const m = /^\/proc\/(\d+)\/(stat|task\/(\d+)\/children)$/.exec(path)
      const p = m === null ? undefined : processes.get(Number(m[1]))
      if (m === null || p === undefined) return undefined
      if (m[2] === 'stat') {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss
        return `${m[1]} (a job) S 1 ${p.pgid} ${p.pgid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 1000000 ${p.rss} 0 0\n`
      }
      if (o.childrenFiles === false || m[3] !== m[1]) return undefined
      return (p.children ?? []).map(c => `${c} `).join('')
    }
  }
}

/** 1,000 processes of their own groups, and a job of group 5000: its shell, a child, a grandchild under a child in a group of its own, and one of its group that left the tree. */
function machine (): Map<number, FakeProcess> {
  const ps = new Map<number, FakeProcess>()
  for (let pid = 1000; pid < 2000; pid++) ps.set(pid, { pgid: pid, rss: 10 })
  ps.set(5000, { pgid: 5000, rss: 100, children: [5001, 5002] })
  ps.set(5001, { pgid: 5000, rss: 200 })
  ps.set(5002, { pgid: 7777, rss: 400, children: [5003] }) // (it made a group of its own: not the job's)
  ps.set(5003, { pgid: 5000, rss: 50 })
  ps.set(6000, { pgid: 5000, rss: 1000 }) // (daemonized: reparented, still in the job's group)
  return ps
}

test('G-2, issue 12: a job\'s sample reads its own tree (the job\'s group in it), not every process of the machine', () => {
  const proc = fakeProc(machine())
  assert.equal(treePages(5000, proc), 100 + 200 + 50, 'the shell, its child and its grandchild of the group; not the child of another group')
  assert.ok(proc.reads.every(path => /^\/proc\/500\d\//.test(path)), `only the tree's files: ${proc.reads.join(', ')}`)
  assert.equal(proc.reads.length, 8, 'a stat and a children file for each of the four processes of the tree')
})

test('G-2, issue 12: the pass over every process finds what left the tree, and reads every process', () => {
  const proc = fakeProc(machine())
  const pages = passAll(new Set([5000]), proc)
  assert.deepEqual([...pages], [[5000, 100 + 200 + 50 + 1000]], 'the group\'s processes wherever they are, not the one of another group')
  assert.equal(proc.reads.filter(path => path.endsWith('/stat')).length, 1000 + 5, 'every process\'s stat')
})

test('G-2, issue 12: without children files the tree says it cannot be read (the sampler then reads every process); a gone leader is 0; a tree is bounded', () => {
  assert.equal(treePages(5000, fakeProc(machine(), { childrenFiles: false })), undefined)
  assert.equal(treePages(4242, fakeProc(machine())), 0, 'no such process: nothing resident')
  // A chain of processes longer than the bound: read up to MAX_TREE of them.
  const chain = new Map<number, FakeProcess>()
  for (let i = 0; i < MAX_TREE * 3; i++) chain.set(10_000 + i, { pgid: 10_000, rss: 1, children: [10_001 + i] })
  const proc = fakeProc(chain)
  assert.equal(treePages(10_000, proc), MAX_TREE)
  assert.equal(proc.reads.filter(path => path.endsWith('/stat')).length, MAX_TREE)
})

test('G-2, issue 12: on the real /proc, a running job\'s tree holds what the pass over every process finds of its group (Linux)', { skip: linuxProc ? false : 'needs /proc (Linux)' }, async () => {
  // A shell leading its own group with two children (sleeping: their memory stays put).
  const job = spawn('/bin/sh', ['-c', 'sleep 30 & sleep 30 & wait'], { detached: true, stdio: 'ignore' })
  const pgid = job.pid as number
  try {
    const childrenFile = `/proc/${pgid}/task/${pgid}/children`
    if (!existsSync(childrenFile)) { assert.equal(treePages(pgid), undefined, 'no children files: said'); return }
    let children: string[] = []
    for (let i = 0; i < 200 && children.length < 2; i++) {
      await sleep(25)
      children = readFileSync(childrenFile, 'latin1').trim().split(' ').filter(s => s !== '')
    }
    assert.equal(children.length, 2, 'the shell started its two children')
    // (Read twice: a child may still be exec'ing at the first read. Bounded.)
    let tree: number | undefined
    let all: number | undefined
    for (let i = 0; i < 40; i++) {
      tree = treePages(pgid)
      all = passAll(new Set([pgid])).get(pgid)
      if (tree === all) break
      await sleep(50)
    }
    assert.ok(tree !== undefined && tree > 0, `the tree has resident pages: ${String(tree)}`)
    assert.equal(tree, all, 'the tree and the pass agree on a job whose processes all stay in its tree')
  } finally {
    try { process.kill(-pgid, 'SIGKILL') } catch { /* gone */ }
  }
})
