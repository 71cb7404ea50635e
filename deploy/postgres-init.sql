-- Each service owns its database (see docs/architecture.md).
CREATE DATABASE users;
CREATE DATABASE orders;
CREATE DATABASE notifier;
