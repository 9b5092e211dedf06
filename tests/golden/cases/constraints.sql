CREATE TABLE accounts (
    tenant INTEGER NOT NULL,
    id INTEGER NOT NULL,
    email TEXT NOT NULL,
    balance NUMERIC(12, 2) DEFAULT 0 NOT NULL,
    CONSTRAINT accounts_pkey PRIMARY KEY (tenant, id),
    CONSTRAINT accounts_tenant_email_key UNIQUE (tenant, email),
    CONSTRAINT accounts_balance_check CHECK (balance >= 0),
    CONSTRAINT accounts_email_check CHECK (position('@' in email) > 1)
);

CREATE TABLE transfers (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    tenant INTEGER NOT NULL,
    from_id INTEGER NOT NULL,
    to_id INTEGER,
    amount NUMERIC(12, 2) NOT NULL,
    CONSTRAINT transfers_pkey PRIMARY KEY (id),
    CONSTRAINT transfers_amount_check CHECK (amount > 0)
);

CREATE TABLE audit (
    transfer_id BIGINT NOT NULL,
    seen BOOLEAN DEFAULT false NOT NULL
);

ALTER TABLE transfers ADD CONSTRAINT transfers_from_fkey FOREIGN KEY(tenant, from_id) REFERENCES accounts (tenant, id) ON DELETE RESTRICT ON UPDATE CASCADE;

ALTER TABLE transfers ADD CONSTRAINT transfers_to_fkey FOREIGN KEY(tenant, to_id) REFERENCES accounts (tenant, id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE audit ADD CONSTRAINT audit_transfer_fkey FOREIGN KEY(transfer_id) REFERENCES transfers (id) ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE;
