CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
CREATE TABLE IF NOT EXISTS users (
	id VARCHAR(36) NOT NULL, 
	nombre VARCHAR(100) NOT NULL, 
	email VARCHAR(254) NOT NULL, 
	password_hash VARCHAR(60) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT users_email_key UNIQUE (email)
);
CREATE TABLE IF NOT EXISTS outbox (
	id INTEGER NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	aggregate_type VARCHAR(50) NOT NULL, 
	aggregate_id VARCHAR(36) NOT NULL, 
	event_type VARCHAR(50) NOT NULL, 
	topic VARCHAR(249) NOT NULL, 
	message_key VARCHAR(255) NOT NULL, 
	payload TEXT NOT NULL, 
	headers TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	published_at DATETIME, 
	claimed_by VARCHAR(100), 
	claimed_until DATETIME, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	last_error VARCHAR(500), 
	PRIMARY KEY (id), 
	UNIQUE (event_id)
);
CREATE INDEX IF NOT EXISTS outbox_claimed_idx ON outbox (topic, message_key) WHERE claimed_until IS NOT NULL AND published_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_key_idx ON outbox (topic, message_key);
CREATE INDEX IF NOT EXISTS outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_published_at_idx ON outbox (published_at);
CREATE TABLE IF NOT EXISTS outbox_relay_leases (
	name VARCHAR(50) NOT NULL, 
	holder VARCHAR(100), 
	expires_at DATETIME, 
	PRIMARY KEY (name)
);
CREATE TABLE IF NOT EXISTS event_verifications (
	event_id VARCHAR(36) NOT NULL, 
	aggregate_id VARCHAR(64), 
	outcome VARCHAR(20) NOT NULL, 
	reason VARCHAR(200), 
	verified_at DATETIME NOT NULL, 
	PRIMARY KEY (event_id)
);
CREATE INDEX IF NOT EXISTS event_verifications_aggregate_idx ON event_verifications (aggregate_id);
CREATE TABLE IF NOT EXISTS processed_commands (
	command_id VARCHAR(36) NOT NULL, 
	outcome VARCHAR(20) NOT NULL, 
	user_id VARCHAR(36), 
	code VARCHAR(50), 
	processed_at DATETIME NOT NULL, 
	PRIMARY KEY (command_id)
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
	"key" VARCHAR(255) NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);
