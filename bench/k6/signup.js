// Registrations at saturation: every VU registers new addresses back to back.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { signup: { executor: 'constant-vus', vus: Number(__ENV.VUS), duration: __ENV.DURATION } },
  summaryTrendStats: ['med', 'p(99)', 'avg', 'max'],
};

const params = { headers: { 'content-type': 'application/json' } };

export default function () {
  const email = `bench-${__ENV.RUN}-${__VU}-${__ITER}@example.com`;
  const res = http.post(`${__ENV.BASE}/v1/users`,
    JSON.stringify({ email, password: 'correct horse battery staple' }), params);
  check(res, { 'status is 202': (r) => r.status === 202 });
}
