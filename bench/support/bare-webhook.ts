// The baseline of the workflow benchmark: a bare Fastify in its own process that accepts a JSON
// webhook body and answers 202, the HTTP ceiling of this machine for the same request.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/hooks/bare', async (_req, reply) => reply.status(202).send({ accepted: true }));
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.send?.({ address });
