CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$function$;

CREATE TABLE contexts (
    id UUID NOT NULL,
    context_data JSONB DEFAULT '{}'::jsonb NOT NULL,
    message_history JSONB DEFAULT '[]'::jsonb,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    owner_did VARCHAR(255),
    CONSTRAINT contexts_pkey PRIMARY KEY (id)
);

CREATE TABLE tasks (
    id UUID NOT NULL,
    context_id UUID NOT NULL,
    kind VARCHAR(50) DEFAULT 'task'::character varying NOT NULL,
    state VARCHAR(50) NOT NULL,
    state_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    history JSONB DEFAULT '[]'::jsonb NOT NULL,
    artifacts JSONB DEFAULT '[]'::jsonb,
    metadata JSONB DEFAULT '{}'::jsonb,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    owner_did VARCHAR(255),
    CONSTRAINT tasks_pkey PRIMARY KEY (id)
);

CREATE TABLE task_feedback (
    id SERIAL NOT NULL,
    task_id UUID NOT NULL,
    feedback_data JSONB NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT task_feedback_pkey PRIMARY KEY (id)
);

CREATE TABLE webhook_configs (
    task_id UUID NOT NULL,
    config JSONB NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT webhook_configs_pkey PRIMARY KEY (task_id)
);

CREATE INDEX idx_contexts_created_at ON contexts (created_at);

CREATE INDEX idx_contexts_data_gin ON contexts USING gin (context_data);

CREATE INDEX idx_contexts_history_gin ON contexts USING gin (message_history);

CREATE INDEX idx_contexts_owner_did ON contexts (owner_did);

CREATE INDEX idx_contexts_updated_at ON contexts (updated_at);

CREATE INDEX idx_tasks_artifacts_gin ON tasks USING gin (artifacts);

CREATE INDEX idx_tasks_context_id ON tasks (context_id);

CREATE INDEX idx_tasks_created_at ON tasks (created_at);

CREATE INDEX idx_tasks_history_gin ON tasks USING gin (history);

CREATE INDEX idx_tasks_metadata_gin ON tasks USING gin (metadata);

CREATE INDEX idx_tasks_owner_did ON tasks (owner_did);

CREATE INDEX idx_tasks_state ON tasks (state);

CREATE INDEX idx_tasks_updated_at ON tasks (updated_at);

CREATE INDEX idx_task_feedback_created_at ON task_feedback (created_at);

CREATE INDEX idx_task_feedback_task_id ON task_feedback (task_id);

CREATE INDEX idx_webhook_configs_created_at ON webhook_configs (created_at DESC);

ALTER TABLE tasks ADD CONSTRAINT tasks_context_id_fkey FOREIGN KEY(context_id) REFERENCES contexts (id) ON DELETE CASCADE;

ALTER TABLE task_feedback ADD CONSTRAINT task_feedback_task_id_fkey FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE;

ALTER TABLE webhook_configs ADD CONSTRAINT webhook_configs_task_id_fkey FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE;

CREATE TRIGGER update_contexts_updated_at BEFORE UPDATE ON contexts
FOR EACH ROW
EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER update_tasks_updated_at BEFORE UPDATE ON tasks
FOR EACH ROW
EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER update_webhook_configs_updated_at BEFORE UPDATE ON webhook_configs
FOR EACH ROW
EXECUTE FUNCTION update_updated_at_column();

COMMENT ON TABLE contexts IS 'Conversation contexts with message history';

COMMENT ON TABLE tasks IS 'A2A protocol tasks with JSONB history and artifacts';

COMMENT ON TABLE task_feedback IS 'User feedback for tasks';

COMMENT ON TABLE webhook_configs IS 'Webhook configurations for long-running task notifications';
