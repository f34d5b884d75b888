"""Alerts people can read: one renderer for every notice kind (`render`, with the per-kind table in
`kinds`), the Amazon Q Developer in chat applications custom-notification format (`chat`), and the
step notifications an operator switches on or off (`steps`). Pure: no boto3; `adapters.notify`
publishes what these modules build."""
