-- Each user's last paid recommendation list (its JSON), so that any server answers it.
CREATE TABLE recommendation_lists (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    list TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
