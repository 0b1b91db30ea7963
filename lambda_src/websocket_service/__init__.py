"""WebSocket notification service: the Lambda package behind API Gateway's WebSocket routes.

The single entry point is :func:`websocket_service.handler.handler`. This package never imports
``aws_cdk``; the CDK app only knows its asset path and the environment variable names in
:mod:`websocket_service.config`.
"""
