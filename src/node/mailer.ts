// The master's email notifications (issue 11). Which messages are due is derived from the
// state (state/mail.ts); this module only sends them through the configured SMTP server
// (nodemailer), one message per due address not already being sent here, then records a
// `mail` event with the items it listed and the outcome. At least once: a master that dies
// between the send and its event leaves the items unrecorded, and the next master sends them.
import type { Transporter } from 'nodemailer'
import type { Logger } from 'pino'
import type { NotifyConfig, SmtpConfig } from '../config/config.js'
import type { CisEvent, EventBodies, EventType } from '../events/types.js'
import { dueMails, mailMessage } from '../state/mail.js'
import type { DueMail, MailOptions } from '../state/mail.js'
import type { ClusterState } from '../state/types.js'

export interface MailerOptions {
  smtp: SmtpConfig
  notify: NotifyConfig
  log: Logger
  now: () => number
  append: <T extends EventType>(type: T, body: EventBodies[T]) => Promise<CisEvent<T>>
}

export function mailOptions (n: NotifyConfig): MailOptions {
  return { mailEveryMs: n.mailEveryMs, retryForMs: n.retryForMs, digestAt: n.digestAt, ...(n.digestEveryMs !== undefined ? { digestEveryMs: n.digestEveryMs } : {}) }
}

export class Mailer {
  /** Addresses a message is being sent to now by this master (cleared when the role is revoked). */
  private inFlight = new Set<string>()
  private transport: Transporter | undefined

  constructor (private readonly o: MailerOptions) {}

  private async transporter (): Promise<Transporter> {
    const s = this.o.smtp
    const t = this.o.notify.timeoutMs
    // (nodemailer is loaded at the first message: a node that never mails never pays its memory.)
    const nodemailer = (await import('nodemailer')).default
    this.transport ??= nodemailer.createTransport({
      host: s.host,
      port: s.port,
      secure: s.secure,
      ...(s.user !== undefined ? { auth: { user: s.user, pass: s.pass ?? '' } } : {}),
      connectionTimeout: t,
      greetingTimeout: t,
      socketTimeout: t
    })
    return this.transport
  }

  /** Send what is due and not in flight (called on every pass of the master role). */
  pass (state: ClusterState, term: number, among?: Iterable<string>): void {
    for (const m of dueMails(state, this.o.now(), mailOptions(this.o.notify), among)) {
      if (this.inFlight.has(m.to)) continue
      const set = this.inFlight
      set.add(m.to)
      void this.deliver(m, term).finally(() => set.delete(m.to))
    }
  }

  /** The role is revoked: nothing of this term carries over (a send under way still records its outcome). */
  clear (): void {
    this.inFlight = new Set()
  }

  /** Stop: close the SMTP connections. */
  close (): void {
    this.transport?.close()
    this.transport = undefined
  }

  private async deliver (m: DueMail, term: number): Promise<void> {
    const { subject, text } = mailMessage(m)
    const ids = m.items.map(i => i.id)
    let body: EventBodies['mail']
    try {
      await (await this.transporter()).sendMail({ from: this.o.smtp.from, to: m.to, subject, text, headers: { 'X-Cis-Items': ids.slice(0, 50).join(' ') } })
      body = { to: m.to, ids, ok: true, term }
      this.o.log.info({ to: m.to, items: ids.length }, 'email sent')
    } catch (err) {
      const error = String((err as Error).message ?? err).slice(0, 1000)
      body = { to: m.to, ids, ok: false, error, term }
      this.o.log.warn({ to: m.to, items: ids.length, err: error }, 'email not sent')
    }
    try {
      await this.o.append('mail', body)
    } catch (err) {
      this.o.log.error({ err: (err as Error).message, to: m.to }, 'cannot record an email')
    }
  }
}
