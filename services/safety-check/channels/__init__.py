"""Channels that reach people: one sender interface (`base.Sender`), e-mail over SMTP
(`smtp.SmtpSender`) and a webhook for SMS gateways and messaging platforms
(`webhook.WebhookSender`). Every send carries an idempotency key and the fencing epoch
of the job step that sends it (yui/jobs/kinds.py), so a receiver keeps one message per
key and may refuse a deposed primary's late sends."""
