"""A Kubernetes API server stand-in for the EmailTemplate controller: kmock's KubernetesEmulator
(real HTTP: list, watch streams, create, merge-patch, delete) with what the controller relies on
and kmock 0.8 leaves out: `metadata.resourceVersion` on every stored object and list,
`metadata.generation` bumped by spec changes only, `uid` and `creationTimestamp`.

What it still does not model (docs/mail-delivery.md, "Testing the controller"): schema
validation of the CRD (any JSON is stored), strategic-merge and server-side apply, the status
subresource's separation (a status patch could also change the spec), resourceVersion
preconditions and 410 Gone for stale watches, watch bookmarks and timeouts, RBAC and
authentication, finalizer-less deletion grace periods, field and label selectors.
"""
import asyncio
import datetime
import itertools
import uuid

import kmock

GROUP, VERSION, PLURAL = "userplatform.io", "v1alpha1", "emailtemplates"
RESOURCE = f"{GROUP}/{VERSION}/{PLURAL}"


class StampingEmulator(kmock.KubernetesEmulator):
    """KubernetesEmulator that stamps resourceVersion/generation/uid like an API server."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._versions = itertools.count(1)
        self.watches = 0  # watch requests received, to see a watch resume
        self._watch_tasks: set[asyncio.Task] = set()
        self.resources[RESOURCE] = {"kind": "EmailTemplate", "namespaced": True}

    def _current(self, request):
        key = (request.resource, request.namespace, request.name)
        if key in self.objects and not self.objects[key].deleted:
            return self.objects[key].raw
        return None

    async def _handle(self, request):
        if request.action == kmock.action.WATCH:
            self.watches += 1
        data = request.data if isinstance(request.data, dict) else None
        if request.resource is not None and data is not None:
            rv = str(next(self._versions))
            if request.action == kmock.action.CREATE:
                meta = data.setdefault("metadata", {})
                meta.update(resourceVersion=rv, generation=1, uid=str(uuid.uuid4()),
                            creationTimestamp=datetime.datetime.now(datetime.UTC)
                            .strftime("%Y-%m-%dT%H:%M:%SZ"))
                meta.setdefault("namespace", request.namespace)
            elif request.action == kmock.action.UPDATE and request.name is not None:
                current = self._current(request)
                meta = data.setdefault("metadata", {})
                meta["resourceVersion"] = rv
                # Only spec changes move the generation; the status subresource never does.
                if current is not None and request.subresource != "status" and "spec" in data:
                    meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
                if request.subresource == "status":
                    for key in [k for k in data if k not in ("status", "metadata")]:
                        del data[key]
        return await super()._handle(request)

    async def _serve_watch(self, request):
        task = asyncio.current_task()
        self._watch_tasks.add(task)
        try:
            async for event in super()._serve_watch(request):
                yield event
        finally:
            self._watch_tasks.discard(task)

    def cut_watches(self) -> None:
        """Ends every open watch stream, as an API server going away does."""
        for task in list(self._watch_tasks):
            task.cancel()

    async def _serve_list(self, request):
        payload = await super()._serve_list(request)
        payload["metadata"]["resourceVersion"] = str(next(self._versions))
        payload.setdefault("apiVersion", f"{GROUP}/{VERSION}")
        payload.setdefault("kind", "EmailTemplateList")
        return payload
