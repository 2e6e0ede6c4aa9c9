// Logins at saturation over ACCOUNTS pre-registered accounts (login-<i>@example.com).
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { login: { executor: 'constant-vus', vus: Number(__ENV.VUS), duration: __ENV.DURATION } },
  summaryTrendStats: ['med', 'p(99)', 'avg', 'max'],
};

const params = { headers: { 'content-type': 'application/json' } };

export default function () {
  const i = (__VU * 7919 + __ITER) % Number(__ENV.ACCOUNTS);
  const res = http.post(`${__ENV.BASE}/v1/sessions`,
    JSON.stringify({ email: `login-${__ENV.RUN}-${i}@example.com`, password: 'correct horse battery staple' }), params);
  check(res, { 'status is 201': (r) => r.status === 201 });
}
