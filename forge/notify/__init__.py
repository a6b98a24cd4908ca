"""Telling the world what happened: webhooks (`webhooks`), recording events as deliveries
(`webhook_recording`), sending them (`webhook_sending`), re-queuing the ones the queue lost
(`deliveries`), and which domain events they tell of (`webhook_subscriptions`)."""
