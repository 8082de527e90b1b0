"""The citizens' mobile pages: the one-tap report page of a signed link, the open report
form and the family search. No sign-in; offline-first (a service worker and an IndexedDB
outbox in plain JavaScript); every site node serves them."""
