// Real-stack tests (sshd, Docker, PostgreSQL); see scripts/test-stack.
