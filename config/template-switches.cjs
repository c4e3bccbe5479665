'use strict';
// Package-time switches for serverless.yml: whether an optional parameter was given. The
// framework's variables can pick a map entry by a parameter's value (custom.clipsBucket) but
// cannot test a value for emptiness, and a CloudFormation Condition comparing two strings that
// are both known at package time is a test the template should not carry (cfn-lint W8003, and
// E3510/E3033 on the untaken branch's empty ARN). Each switch answers 'none' or 'given'; the
// YAML keeps the content of both cases (custom.alarmActions, custom.bucketKey).

const given = (name) => async ({ resolveVariable }) =>
  String((await resolveVariable(`param:${name}`)) ?? '').trim() === '' ? 'none' : 'given';

module.exports = {
  alarmTopic: given('alarmTopicArn'),
  bucketKmsKey: given('bucketKmsKeyArn'),
};
